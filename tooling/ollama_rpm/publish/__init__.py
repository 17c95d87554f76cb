"""Out to the world and back: Copr builds, GitHub, bumping to a new upstream release."""
