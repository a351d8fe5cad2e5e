"""What is kept as evidence and how: screenshot policy, framing, volatile tokens, network facts.

May import `domain` only.
"""
