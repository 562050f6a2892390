import CSQLite
import EventSourcingCore
import Foundation

/// One SQLite connection with its prepared statements, used by one thread at a time
/// (the connection is opened with SQLITE_OPEN_NOMUTEX).
final class SQLiteConnection {
    private var handle: OpaquePointer?
    private var statements: [String: SQLiteStatement] = [:]
    let path: String
    /// Whether this connection has seen the `stream_lifecycle` table (which is never dropped, so
    /// once true it stays true); see `hasLifecycleTable()`.
    private var knowsLifecycleTable = false

    /// Opens `path` through `sqlite3_open_v2`.
    /// - Throws: `EventStoreError.io` (or `.corruption`) with SQLite's message.
    init(path: String, readOnly: Bool) throws {
        self.path = path
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        flags |= readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        guard code == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            handle = nil
            throw SQLiteConnection.error(code: code, message: "cannot open '\(path)': \(message)")
        }
    }

    deinit { close() }

    /// Finalizes every statement and closes the connection (`sqlite3_close_v2`).
    func close() {
        statements.removeAll()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Runs SQL that returns no rows (`sqlite3_exec`).
    func execute(_ sql: String) throws {
        let code = sqlite3_exec(handle, sql, nil, nil, nil)
        guard code == SQLITE_OK else { throw error(code: code) }
    }

    /// The cached prepared statement for `sql`, reset and with its bindings cleared.
    func statement(_ sql: String) throws -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var raw: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard code == SQLITE_OK, let raw else { throw error(code: code) }
        let statement = SQLiteStatement(raw: raw, connection: self)
        statements[sql] = statement
        return statement
    }

    /// Whether the database has the `stream_lifecycle` table, which the first lifecycle change
    /// creates (by this process or another): looked up until it is found, then remembered.
    func hasLifecycleTable() throws -> Bool {
        if knowsLifecycleTable { return true }
        let query = try statement(SQLiteSchema.lifecycleExists)
        defer { query.reset() }
        knowsLifecycleTable = try query.step()
        return knowsLifecycleTable
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE (`sqlite3_changes64`).
    var changes: Int64 { sqlite3_changes64(handle) }

    /// The rowid of the last insert (`sqlite3_last_insert_rowid`).
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// The typed error for `code`, with the connection's message.
    func error(code: Int32) -> EventStoreError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "connection closed"
        return SQLiteConnection.error(code: code, message: "\(message) in '\(path)'")
    }

    static func error(code: Int32, message: String) -> EventStoreError {
        switch code & 0xFF {
        case SQLITE_CORRUPT, SQLITE_NOTADB: return .corruption(message)
        case SQLITE_READONLY: return .readOnly
        default: return .io(message)
        }
    }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE` ... `COMMIT`), rolling back when it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` in a read transaction (`BEGIN` ... `COMMIT`), so that its statements see one
    /// snapshot of the database.
    func readTransaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        defer { try? execute("COMMIT") }
        return try body()
    }
}

/// A prepared statement. Indexes of `bind` are 1-based, of `column` 0-based, as in SQLite.
final class SQLiteStatement {
    private let raw: OpaquePointer
    private unowned let connection: SQLiteConnection

    init(raw: OpaquePointer, connection: SQLiteConnection) {
        self.raw = raw
        self.connection = connection
    }

    deinit { sqlite3_finalize(raw) }

    func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(raw, index, value)
    }

    func bind(_ index: Int32, _ value: String?) {
        guard let value else {
            sqlite3_bind_null(raw, index)
            return
        }
        var text = value
        text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                if let base = chars.baseAddress {
                    _ = sqlite3_bind_text(raw, index, base, Int32(chars.count), csqlite_transient())
                } else {
                    // A nil pointer would bind NULL; an empty string stays an empty text.
                    _ = sqlite3_bind_text(raw, index, "", 0, csqlite_transient())
                }
            }
        }
    }

    /// Binds raw bytes as text: a range bound that need not be valid UTF-8 (SQLite compares text
    /// with the BINARY collation, byte by byte).
    func bind(_ index: Int32, textBytes value: [UInt8]) {
        value.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                if let base = chars.baseAddress {
                    _ = sqlite3_bind_text(raw, index, base, Int32(chars.count), csqlite_transient())
                } else {
                    _ = sqlite3_bind_text(raw, index, "", 0, csqlite_transient())
                }
            }
        }
    }

    func bind(_ index: Int32, _ value: Data) {
        value.withUnsafeBytes { bytes in
            // A zero-length blob with a nil pointer would be bound as NULL; zeroblob keeps it a blob.
            if bytes.isEmpty {
                _ = sqlite3_bind_zeroblob(raw, index, 0)
            } else {
                _ = sqlite3_bind_blob(raw, index, bytes.baseAddress, Int32(bytes.count), csqlite_transient())
            }
        }
    }

    /// Steps once. - Returns: `true` when a row is ready, `false` when done.
    func step() throws -> Bool {
        let code = sqlite3_step(raw)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(code: code)
        }
    }

    /// Steps to completion, for statements without rows.
    func run() throws {
        while try step() {}
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(raw, column) == SQLITE_NULL }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(raw, column) }

    func string(_ column: Int32) -> String? {
        guard let text = sqlite3_column_text(raw, column) else { return nil }
        let count = Int(sqlite3_column_bytes(raw, column))
        return String(decoding: UnsafeRawBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func data(_ column: Int32) -> Data {
        let count = Int(sqlite3_column_bytes(raw, column))
        guard count > 0, let bytes = sqlite3_column_blob(raw, column) else { return Data() }
        return Data(bytes: bytes, count: count)
    }

    /// The column's bytes, lent to `body` (text or blob).
    func withBytes<T>(_ column: Int32, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let pointer = sqlite3_column_blob(raw, column)
        let count = Int(sqlite3_column_bytes(raw, column))
        return try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
