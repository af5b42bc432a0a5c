"""Access's pure rules: legal tiers, retention months, DPO request steps, traffic statistics. No I/O."""
