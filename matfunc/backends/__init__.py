"""Per-framework glue (autodiff wiring and quirks), imported lazily when an array of that framework is seen."""
