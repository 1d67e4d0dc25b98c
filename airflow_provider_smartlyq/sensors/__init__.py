"""SmartlyQ sensors."""
