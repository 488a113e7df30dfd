"""Problem synthesis: procedural families with exact answers and gold rationales."""
