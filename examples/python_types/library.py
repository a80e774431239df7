"""A small annotated library (the Python expected-types tests)."""

from __future__ import annotations


class Author:
    def __init__(self, name: str, born: int = 0) -> None:
        self.name = name
        self.born = born


class Book:
    title: str = ""

    def __init__(self, title: str, author: Author, year: int) -> None:
        self.title = title
        self.author = author
        self.year = year
        self.tags: list[str] = []

    def copy(self) -> Book:
        return Book(self.title, self.author, self.year)

    @property
    def label(self) -> str:
        return self.title

    def pages(self) -> int:
        return 3


def shelf_mark(code: str, width: int = 4) -> str:
    return code.rjust(width)


class Shelf:
    def __init__(self, book: Book, size: int = 1) -> None:
        self.book = book
        self.size = size

    def first(self) -> Book:
        return self.book
