"""Text -> a complete, typed MixedSpec: Stata mixed grammar, lme4 formulas, factor notation,
weight expressions. No user text is evaluated (docs/security.md)."""
