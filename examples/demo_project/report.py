"""Summaries of shape collections (the demo completes code in this file)."""

from __future__ import annotations

from geometry import Circle, Rectangle


def total_area(circles: list[Circle]) -> float:
    total = 0.0
    for c in circles:
        total += c.area()
    return total


def widest(rects: list[Rectangle]) -> Rectangle:
    best = rects[0]
    for r in rects:
        if r.length > best.length:
            best = r
    return best


def describe(c: Circle) -> str:
    return f"circle of radius {c.radius}"


def describe_rect(r: Rectangle) -> str:
    return f"rectangle {r.length} x {r.breadth}"


def grow(c: Circle) -> Circle:
    return c.scaled(2.0)
