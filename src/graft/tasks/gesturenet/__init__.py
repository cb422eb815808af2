"""GestureNet: hand-gesture classification (six classes) on crops around hand boxes."""
