"""notifications: stores every notification first, then delivers it (in-app here; more channels later)."""
