"""Capsule networks with dynamic routing (Sabour, Frosst & Hinton 2017) and their baseline CNN."""
