"""A tiny geometry package used by the mgd demo."""

from geometry.shapes import Circle, Rectangle

__all__ = ["Circle", "Rectangle"]
