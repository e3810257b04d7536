"""Hydra configuration files, installed with the package so they are found from anywhere."""
