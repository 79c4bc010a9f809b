"""Drive a running LibreOffice through UNO, as a person at the keyboard would.

Run by the *system* interpreter (``/usr/bin/python3``: the UNO bridge, python3-uno, is
importable only there), never imported by the tests. One JSON command on stdin, one JSON
answer on stdout::

    {"port": 2002, "open": "/x/onb.xlsx", "csv": false,
     "steps": [{"type": "Runs!J4", "text": "0296"},
               {"sort": "Runs!A4:AJ15", "column": 5, "descending": false},
               {"filter": "Runs!A3:AJ15", "column": 1, "equals": "active"},
               {"read": "Runs!J4"}],
     "save": [{"path": "/x/out.xlsx", "format": "xlsx"}]}

A step that LibreOffice refuses (a sort of a protected sheet) is not an exception: its
answer says what the sheet holds afterwards, and the test decides. ``{"port": N}`` alone
answers ``{"ok": true}`` once LibreOffice accepts connections (the harness's readiness
probe).

Typing goes through the dispatcher's ``.uno:EnterString``, which calls the same
``EnterData`` as pressing Enter after typing in the cell: LibreOffice's own input parsing
decides (a leading apostrophe makes text, ``2026-03-04`` a date, ``TRUE`` a boolean, and
a cell formatted as Text keeps the digits), not ``setString``/``setValue``, which would
decide for it. Sorting goes through ``.uno:DataSort`` on the selected range, the Data ▸
Sort dialog's command, so a protected sheet refuses it as it does a person.
"""

from __future__ import annotations

import json
import sys
import time

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]
from com.sun.star.connection import NoConnectException  # type: ignore[import-not-found]

XLSX = "Calc MS Excel 2007 XML"
CSV = "Text - txt - csv (StarCalc)"
CSV_OPTIONS = "44,34,76,1"  # comma, double quote, UTF-8, from line 1 (type detection on)


def props(**values: object) -> tuple[PropertyValue, ...]:
    out = []
    for name, value in values.items():
        prop = PropertyValue()
        prop.Name, prop.Value = name, value
        out.append(prop)
    return tuple(out)


def connect(port: int, wait: float) -> object:
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local
    )
    deadline = time.monotonic() + wait
    while True:
        try:
            return resolver.resolve(
                f"uno:socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext"
            )
        except NoConnectException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def url(path: str) -> str:
    return uno.systemPathToFileUrl(path)


class Calc:
    def __init__(self, context: object, path: str, csv: bool) -> None:
        smgr = context.ServiceManager
        self.desktop = smgr.createInstanceWithContext("com.sun.star.frame.Desktop", context)
        self.dispatcher = smgr.createInstanceWithContext(
            "com.sun.star.frame.DispatchHelper", context
        )
        load = {"Hidden": True}
        if csv:
            load |= {"FilterName": CSV, "FilterOptions": CSV_OPTIONS}
        self.doc = self.desktop.loadComponentFromURL(url(path), "_blank", 0, props(**load))
        self.frame = self.doc.getCurrentController().getFrame()

    def uno(self, command: str, **args: object) -> None:
        self.dispatcher.executeDispatch(self.frame, f".uno:{command}", "", 0, props(**args))

    def sheet(self, ref: str) -> tuple[object, str]:
        name, _, address = ref.rpartition("!")
        sheets = self.doc.getSheets()
        sheet = sheets.getByName(name) if name else sheets.getByIndex(0)
        self.doc.getCurrentController().setActiveSheet(sheet)
        return sheet, address

    def select(self, ref: str) -> tuple[object, str]:
        sheet, address = self.sheet(ref)
        self.uno("GoToCell", ToPoint=address)
        return sheet, address

    def cell(self, ref: str) -> dict[str, object]:
        sheet, address = self.sheet(ref)
        cell = sheet.getCellRangeByName(address)
        kind = cell.getType().value  # EMPTY, VALUE, TEXT, FORMULA
        return {"kind": kind, "string": cell.getString(), "value": cell.getValue()}

    def look(self, ref: str) -> dict[str, object]:
        """What a person sees of a cell: its text, its comment, and the background of
        the first conditional format over it whose condition is a formula (as Calc
        shows: the first that applies wins)."""
        sheet, address = self.sheet(ref)
        cell = sheet.getCellRangeByName(address)
        spot = cell.getCellAddress()
        note = ""
        notes = sheet.getAnnotations()
        for i in range(notes.getCount()):
            found = notes.getByIndex(i)
            where = found.getPosition()
            if (where.Column, where.Row) == (spot.Column, spot.Row):
                note = found.getString()
        fill = None
        styles = self.doc.getStyleFamilies().getByName("CellStyles")
        formats = sheet.getPropertyValue("ConditionalFormats").getConditionalFormats()
        for form in formats:
            if (
                not form.getPropertyValue("Range")
                .queryIntersection(cell.getRangeAddress())
                .getCount()
            ):
                continue
            entry = form.getByIndex(0)
            fill = styles.getByName(entry.getPropertyValue("StyleName")).CellBackColor
            break
        return {"string": cell.getString(), "note": note, "fill": fill}

    def column(self, ref: str, column: int) -> list[str]:
        sheet, address = self.sheet(ref)
        block = sheet.getCellRangeByName(address)
        rows = block.getRangeAddress()
        return [
            sheet.getCellByPosition(rows.StartColumn + column, row).getString()
            for row in range(rows.StartRow, rows.EndRow + 1)
        ]

    def type(self, ref: str, text: str) -> dict[str, object]:
        self.select(ref)
        self.uno("EnterString", StringName=text)
        return self.cell(ref)

    def sort(self, ref: str, column: int, descending: bool) -> dict[str, object]:
        before = self.column(ref, column)
        self.select(ref)
        self.uno(
            "DataSort",
            ByRows=True,
            HasHeader=False,
            CaseSensitive=False,
            IncludeAttribs=True,
            Col1=column + 1,  # 1-based: the sorted range starts in column A
            Ascending1=not descending,
        )
        return {"before": before, "after": self.column(ref, column)}

    def filter(self, ref: str, column: int, equals: str) -> dict[str, object]:
        """What choosing one value in an autofilter's dropdown does: hide the other rows."""
        sheet, address = self.sheet(ref)
        block = sheet.getCellRangeByName(address)
        descriptor = block.createFilterDescriptor(True)
        field = uno.createUnoStruct("com.sun.star.sheet.TableFilterField")
        field.Field = column
        field.Operator = uno.Enum("com.sun.star.sheet.FilterOperator", "EQUAL")
        field.IsNumeric = False
        field.StringValue = equals
        descriptor.setFilterFields((field,))
        descriptor.ContainsHeader = True
        block.filter(descriptor)
        rows = block.getRangeAddress()
        hidden = [
            row + 1
            for row in range(rows.StartRow + 1, rows.EndRow + 1)
            if not sheet.getRows().getByIndex(row).IsVisible
        ]
        return {"hidden_rows": hidden}

    def save(self, path: str, form: str) -> None:
        if form == "xlsx":
            args = props(FilterName=XLSX, Overwrite=True)
        elif form == "csv":
            args = props(FilterName=CSV, FilterOptions=CSV_OPTIONS, Overwrite=True)
        elif form == "pdf":
            args = props(FilterName="calc_pdf_Export", Overwrite=True)
        else:
            raise ValueError(form)
        self.doc.storeToURL(url(path), args)

    def close(self) -> None:
        self.doc.close(True)


def run(command: dict[str, object]) -> dict[str, object]:
    context = connect(int(command["port"]), float(command.get("wait", 10)))
    if "open" not in command:
        return {"ok": True}
    calc = Calc(context, str(command["open"]), bool(command.get("csv", False)))
    answers: list[object] = []
    try:
        for step in command.get("steps", []):
            if "type" in step:
                answers.append(calc.type(step["type"], step["text"]))
            elif "sort" in step:
                answers.append(
                    calc.sort(step["sort"], step["column"], step.get("descending", False))
                )
            elif "filter" in step:
                answers.append(calc.filter(step["filter"], step["column"], step["equals"]))
            elif "look" in step:
                answers.append(calc.look(step["look"]))
            elif "read" in step:
                answers.append(calc.cell(step["read"]))
            else:
                raise ValueError(f"unknown step {step}")
        for target in command.get("save", []):
            calc.save(target["path"], target["format"])
    finally:
        calc.close()
    return {"ok": True, "steps": answers}


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
