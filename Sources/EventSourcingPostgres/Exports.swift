@_exported import EventSourcingCore
