"""The chat scenario: a general assistant that hears, sees and speaks."""
