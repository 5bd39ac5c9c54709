"""Typed contracts shared by the gateway, workflows, activities and the store.

Every workflow, activity, signal and update takes one of these and returns one, so fields can be
added later without breaking workflows already running.
"""
