"""Guardrails: PII, secret and prompt-injection detection, and reversible redaction.

Pure computation (no I/O, no Temporal): activities/ wraps it for the request path, and the CLI's
`interlock guardrails scan` exposes it. Entity names follow Presidio's, so policies carry over.
"""
