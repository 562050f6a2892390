import EventSourcingCore
import NIOCore
import PostgresNIO
import Synchronization

/// Turns what the client library and the server throw into `EventStoreError`s a user can act on.
enum PostgresErrors {
    /// SQLSTATE classes and codes this store tells apart.
    private static let retryable: Set<String> = ["40001", "40P01"]  // serialization failure, deadlock

    /// Whether running the same statement again may succeed (a deadlock or serialization failure).
    static func isRetryable(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return false }
        return retryable.contains(state)
    }

    /// Whether `error` came from the server about the statement (rather than a lost connection).
    static func isStatementError(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, error.code == .server, let state = error.serverInfo?[.sqlState] else {
            return false
        }
        return !unavailableStates.contains(state) && !state.hasPrefix("08")
    }

    /// Server states that mean the server is going away or not taking connections.
    private static let unavailableStates: Set<String> = ["57P01", "57P02", "57P03", "53300", "53400", "57014"]

    /// A short description of a failure to connect, for messages.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            return error.underlying.map { String(describing: $0) } ?? "\(error.code)"
        }
        return String(describing: error)
    }

    /// The typed error for `error`; `context` says what was being done ("appending to 'orders'").
    static func map(_ error: any Error, _ context: String) -> EventStoreError {
        if let error = error as? EventStoreError { return error }
        if error is CancellationError {
            return .unavailable("\(context) was cancelled before the server answered")
        }
        guard let error = error as? PSQLError else {
            // NIO's connection errors (refused, reset, timed out) and anything else on the wire.
            return .unavailable("\(context) failed: \(String(describing: error))")
        }
        guard error.code == .server, let info = error.serverInfo else {
            let underlying = error.underlying.map { ": \(String(reflecting: $0))" } ?? ""
            return .unavailable("\(context) failed: the connection to the server was lost (\(error.code))\(underlying)")
        }
        let state = info[.sqlState] ?? "?????"
        let message = info[.message] ?? "no message"
        let detail = info[.detail].map { " (\($0))" } ?? ""
        let text = "\(context): PostgreSQL error \(state): \(message)\(detail)"
        switch state {
        case _ where unavailableStates.contains(state) || state.hasPrefix("08"):
            return .unavailable(text)
        case "22021", "22P05":
            // A NUL or an invalid byte in text, or \u0000 in jsonb: PostgreSQL cannot store these.
            return .invalidEvent("\(context): PostgreSQL cannot store this text (it holds a NUL character)\(detail)")
        case "54000", "22001":
            return .invalidEvent("\(text): a value is larger than PostgreSQL stores in this column or index")
        case "28000", "28P01":
            return .invalidArgument("\(context): the server refused the login: \(message)")
        case "3D000":
            return .invalidArgument("\(context): \(message): create the database first (createdb)")
        case "42501":
            return .invalidArgument("\(context): \(message): grant the user access to the schema, or choose another")
        case "3F000", "42P01", "42883":
            return .invalidArgument(
                "\(context): the database holds no event store in this schema (\(message)); "
                    + "open it once without readOnly to create one")
        default:
            return .io(text)
        }
    }
}

/// Runs `body`, failing with `EventStoreError.unavailable` when it has not finished within
/// `timeout`. Other errors pass as they are, for the caller to judge (`PostgresErrors.map`).
///
/// The bound holds even when `body` ignores cancellation: the client library waits for some
/// answers (a query written to a connection that has just died, a pool shutting down) in ways
/// cancellation does not reach. So `body` runs in a task of its own that the caller does not wait
/// for: on timeout (or when the caller is cancelled) the caller returns at once, the task is
/// cancelled and left to end whenever it does, and its result is dropped.
///
/// With `reachability`, the call also ends (as `unavailable`) as soon as the server is found
/// unreachable.
func withTimeout<T: Sendable>(
    _ timeout: Duration, _ context: String, reachability: PostgresReachability? = nil,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = TimeoutRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.begin(continuation)
            let work = Task {
                do {
                    race.end(.success(try await body()))
                } catch {
                    race.end(.failure(error))
                }
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                race.end(
                    .failure(EventStoreError.unavailable("\(context): the server did not answer within \(timeout)")))
            }
            let token = reachability?.onOutage { reason in
                race.end(.failure(PostgresReachability.error(context, reason)))
            }
            race.onEnd {
                work.cancel()
                timer.cancel()
                reachability?.cancel(token)
            }
        }
    } onCancel: {
        race.end(.failure(CancellationError()))
    }
}

/// Who finishes first in `withTimeout`: the work, the timer, or the caller's cancellation. The
/// first `end` resumes the caller and runs the clean-up; later ones are ignored.
///
/// Thread-safety: all state is behind a mutex; continuations and clean-ups run outside it.
private final class TimeoutRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var cleanUp: (@Sendable () -> Void)?
        var ended = false
    }
    private let state = Mutex(State())

    func begin(_ continuation: CheckedContinuation<T, any Error>) {
        // An end (the caller cancelled already) may come before the continuation does.
        let early: Result<T, any Error>? = state.withLock { state in
            guard let result = state.result else {
                state.continuation = continuation
                return nil
            }
            return result
        }
        if let early { continuation.resume(with: early) }
    }

    func onEnd(_ cleanUp: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            guard state.ended else {
                state.cleanUp = cleanUp
                return false
            }
            return true
        }
        if now { cleanUp() }
    }

    func end(_ result: Result<T, any Error>) {
        let (continuation, cleanUp): (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) = state.withLock {
            state in
            guard !state.ended else { return (nil, nil) }
            state.ended = true
            state.result = result
            defer {
                state.continuation = nil
                state.cleanUp = nil
            }
            return (state.continuation, state.cleanUp)
        }
        continuation?.resume(with: result)
        cleanUp?()
    }
}

/// `withTimeout`, with every error mapped to a typed one.
func withTimeoutMapped<T: Sendable>(
    _ timeout: Duration, _ context: String, reachability: PostgresReachability? = nil,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    do {
        return try await withTimeout(timeout, context, reachability: reachability, body)
    } catch {
        throw PostgresErrors.map(error, context)
    }
}
