"""Model instances from a hand-written statement, for the few hot pages where compiling the
ORM's query cost more than running it.

A page's statement names its columns per model (`Columns`); each value goes through the
field's own database converters, the ones the ORM applies (a date is a date on SQLite too, a
JSON column is decoded), and the instance is built with `Model.from_db`, as the ORM builds it:
the columns left out are deferred, as with `.only()`.
"""

from django.db import connection
from django.db.models import signals
from django.db.models.base import ModelState


def table(model) -> str:
    """The model's table name, quoted for a statement."""
    return connection.ops.quote_name(model._meta.db_table)


def placeholders(count: int) -> str:
    """`%s, %s, ...`: one parameter for each value of an IN list."""
    return ", ".join(["%s"] * count)


def fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# The largest id a database column holds (a bigint): a larger one names no row, and SQLite
# refuses it as a parameter (OverflowError) where the ORM answers "none".
MAX_ID = 2**63 - 1


def storable_id(pk) -> bool:
    return isinstance(pk, int) and 0 <= pk <= MAX_ID


def one_row(sql: str, params: list, parts: tuple["Columns", ...]) -> list | None:
    """The first row of the statement as the instances of `parts` (Columns.split), or None
    when there is none."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else Columns.split(row, parts)


def select_list(parts: tuple["Columns", ...]) -> str:
    return ", ".join(part.sql for part in parts)


def converters_of(field) -> tuple:
    """The column of a model field and the converters the ORM runs on its values."""
    column = field.get_col(field.model._meta.db_table)
    return column, connection.ops.get_db_converters(column) + field.get_db_converters(connection)


def converted(value, column_and_converters: tuple):
    """A value read from the database as the ORM would give it (converters_of)."""
    column, found = column_and_converters
    for converter in found:
        value = converter(value, column, connection)
    return value


class Columns:
    """Some columns of one model, as `alias.column` for a statement and back into instances."""

    def __init__(self, model, names: tuple[str, ...] | None = None, *, alias: str) -> None:
        """`names` the fields wanted (the primary key always comes), or None for all."""
        self.model, self.alias = model, alias
        # In the model's own field order: `from_db` takes a subset's values in that order.
        fields = model._meta.concrete_fields
        if names is not None:
            wanted = {model._meta.get_field(name) for name in names} | {model._meta.pk}
            fields = [field for field in fields if field in wanted]
        self.attnames = [field.attname for field in fields]
        self._id_at = self.attnames.index(model._meta.pk.attname)
        quote = connection.ops.quote_name
        self.sql = ", ".join(f"{alias}.{quote(field.column)}" for field in fields)
        self._fields = fields
        self._converters = None
        self._converting = None

    def __len__(self) -> int:
        return len(self.attnames)

    def converters(self) -> list:
        if self._converters is None:
            self._converters = [converters_of(field) for field in self._fields]
        return self._converters

    def builder(self):
        """`build` for the rows of one statement: whether anything listens to the model's init
        signals, and the connection's alias, are asked once, not for each row (a list page
        builds a hundred instances, and the two questions cost more than the rest)."""
        model, db, attnames, id_at = self.model, connection.alias, self.attnames, self._id_at
        values_of = self.values
        if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):

            def from_db(values):
                if values[id_at] is None:
                    return None
                return model.from_db(db, attnames, values_of(values))

            return from_db

        def build(values):
            # What from_db leaves, without running __init__ over every field of the model (a
            # credential report row has thirty): the columns read as attributes, the others
            # deferred (absent, read on access), the instance marked as loaded from `db`.
            # Ten times cheaper.
            if values[id_at] is None:
                return None
            instance = model.__new__(model)
            instance.__dict__.update(zip(attnames, values_of(values), strict=True))
            state = instance._state = ModelState()
            state.adding, state.db = False, db
            return instance

        return build

    def build(self, values):
        """An instance from this model's slice of a row; None when the row's id is NULL (an
        outer join that found nothing). For many rows, take `builder()` once."""
        return self.builder()(values)

    def values(self, values) -> list:
        """This model's slice of a row, each value as the ORM would give it."""
        values = list(values)
        for at, found in self.converting():
            values[at] = converted(values[at], found)
        return values

    def converting(self) -> list:
        """(position, converters) of the columns that have converters."""
        if self._converting is None:
            self._converting = [
                (at, found) for at, found in enumerate(self.converters()) if found[1]
            ]
        return self._converting

    @staticmethod
    def splitter(parts: tuple["Columns", ...]):
        """split() for the rows of one statement (each part's builder taken once)."""
        slices, start = [], 0
        for part in parts:
            slices.append((part.builder(), start, start + len(part)))
            start += len(part)

        def split(row) -> list:
            return [build(row[low:high]) for build, low, high in slices]

        return split

    @staticmethod
    def split(row, parts: tuple["Columns", ...]) -> list:
        """A row of several models' columns, side by side, as their instances (or None)."""
        return Columns.splitter(parts)(row)

    def get(self, pk):
        """The instance with this primary key (these columns only), or None."""
        if not storable_id(pk):
            return None
        key = connection.ops.quote_name(self.model._meta.pk.column)
        # A quoted table name and fixed columns; the key goes as a parameter.
        sql = (
            f"SELECT {self.sql} FROM {table(self.model)} {self.alias}"  # noqa: S608
            f" WHERE {self.alias}.{key} = %s"
        )
        found = one_row(sql, [pk], (self,))
        return None if found is None else found[0]
