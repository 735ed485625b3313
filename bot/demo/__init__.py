"""Demo data shipped with the package: `shortscience import --demo` loads it."""
