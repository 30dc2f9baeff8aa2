"""Rasa input/output channels of Retorno and the guard every incoming message passes."""
