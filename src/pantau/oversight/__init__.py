"""Cross-case oversight: rules that need state across cases (queues, peers, officers, agents).

Pure functions over bounded, JSON-serialisable state; the tracker keeps each state in a table
under the partition key its module names and calls the rule for every event it applies.
"""
