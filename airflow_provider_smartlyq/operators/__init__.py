"""SmartlyQ operators."""
