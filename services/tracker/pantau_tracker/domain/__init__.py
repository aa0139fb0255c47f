"""The tracker's pure core: case state, its fold, deadlines and the rule detectors.

Imports only `pantau.core`: no Faust, no Kafka, no clock. Time always comes in as an argument.
"""
