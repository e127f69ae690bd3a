"""Who may enter a class: excuse requests and their decisions (guest invites to come)."""
