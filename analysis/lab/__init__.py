"""The lab: real servers on loopback, scripted apps, real captures."""
