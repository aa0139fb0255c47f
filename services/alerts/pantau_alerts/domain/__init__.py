"""Pure core of the alerts service: lifecycle, the operators' view, access and routing rules.

Nothing here imports Kafka, FastAPI or HTTP clients, nor reads the clock: time is passed in.
"""
