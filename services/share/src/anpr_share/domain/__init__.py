"""Share's pure rules: agreements, what each shares, the exchange's topic names. No I/O."""
