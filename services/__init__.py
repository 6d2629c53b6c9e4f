"""Stream processors (Faust services): registration prompts and conflict detection."""
