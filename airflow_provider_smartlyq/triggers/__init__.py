"""SmartlyQ triggers."""
