"""Retorno's custom actions (rasa-sdk). Thin glue: the rules live in actions/services/."""
