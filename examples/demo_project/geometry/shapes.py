"""Shapes with deliberately few members: the model tends to invent others."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Circle:
    radius: float

    def area(self) -> float:
        return math.pi * self.radius**2

    def circumference(self) -> float:
        return 2 * math.pi * self.radius

    def scaled(self, factor: float) -> Circle:
        return Circle(self.radius * factor)


@dataclass
class Rectangle:
    length: float
    breadth: float

    def area(self) -> float:
        return self.length * self.breadth

    def perimeter(self) -> float:
        return 2 * (self.length + self.breadth)
