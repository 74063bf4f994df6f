"""The sports explainer scenario."""
