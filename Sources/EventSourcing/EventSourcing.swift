// What users import: the public API of every module, and nothing else.
@_exported import EventSourcingCore
@_exported import LogStore
@_exported import SQLiteStore
