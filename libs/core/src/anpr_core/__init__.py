"""Schild core."""
