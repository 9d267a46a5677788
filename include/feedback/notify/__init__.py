"""SLA notifications: who is told (escalation ladder), what they read (digests), how it leaves (outbox, sender).

The SLA monitor decides *what* is late; this package decides *who* hears about it
and delivers it exactly once. Digests are written as `outbox` rows in the monitor's
transaction and delivered later by `send_pending`, so a failed run neither records
a breach nor mails about it, and a re-run never mails twice. Digests carry feedback
numbers, counts and masked subjects only — never a customer's contact.
"""
