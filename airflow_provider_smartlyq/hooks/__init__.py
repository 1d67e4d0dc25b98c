"""SmartlyQ hooks."""
