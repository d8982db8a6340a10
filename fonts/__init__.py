"""DejaVu Sans (regular and bold), shipped as package data of ``gym_cards`` (see ``LICENSE``).

This folder is installed as the ``gym_cards.fonts`` package so that rendering never depends on
the working directory or on the fonts a machine happens to have.
"""
