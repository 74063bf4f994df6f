"""Camera-driven coaching scenarios: the math tutor (reading the problem, CAS-checked steps)."""
