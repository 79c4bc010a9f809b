"""The sample team that seeds the sandbox (JSON files beside this one).

``_build.py`` wrote the JSON; edit it and run ``python sample_data/_build.py`` to change
the seed, so that the files stay consistent with each other.
"""
