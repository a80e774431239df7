package demo;

public class Book {
    private final String title;
    private final int year;
    private int loans;

    public Book(String title, int year) {
        this.title = title;
        this.year = year;
    }

    public String getTitle() {
        return title;
    }

    public int getYear() {
        return year;
    }

    public int loanCount() {
        return loans;
    }

    public Book edition(int newYear) {
        return new Book(title, newYear);
    }

    public void lend() {
        loans++;
    }

    public void printLabel() {
        System.out.println(title + " (" + year + ")");
    }
}
