"""Plain business logic: no rasa or rasa-sdk imports, so it is testable on its own."""
