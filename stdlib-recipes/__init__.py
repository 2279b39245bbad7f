"""The standard recipes (`@std//...`), shipped as package data: `stdlib_dir()` finds them."""
