"""The media plane: rooms, peers, signaling, fan-out. Imports only ``access``."""
