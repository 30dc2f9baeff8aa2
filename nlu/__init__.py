"""Custom Rasa NLU components of Retorno (the training data lives beside them in es/ and en/)."""
