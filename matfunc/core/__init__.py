"""Algorithms written once against the Python array API standard. Every kernel takes ``xp`` explicitly;
nothing here imports a framework."""
