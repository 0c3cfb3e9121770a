// The stub's two hot paths in C#, compiled once per machine (see Import-StubNative in the .psm1):
// reading the tenant's JSON into the hashtables the cmdlets change in place, the recipient index, and
// waiting for the tenant's and the call log's locks (a retry loop in PowerShell, one caught exception
// per try, burnt a core when eight sessions queued for a lock).
// With several sessions sharing a tenant every change by one makes the others re-read it; in
// PowerShell that cost hundreds of milliseconds a call on a 500-group tenant, so the benchmark measured
// the stub rather than the caller. The shapes are exactly those the PowerShell code built before:
// Hashtable (ordinal keys), List<object>, long or double, string, bool, null.
using System;
using System.Buffers;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Threading;

namespace ExoWorkflowSync.Stub
{
    public static class StubNative
    {
        /// <summary>This process's view of the tenant (see StubTenant); set when the module is imported.</summary>
        public static StubTenant Tenant;

        internal static object Convert(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    {
                        Hashtable table = new Hashtable(StringComparer.Ordinal);
                        foreach (JsonProperty property in element.EnumerateObject()) table[property.Name] = Convert(property.Value);
                        return table;
                    }
                case JsonValueKind.Array:
                    {
                        List<object> list = new List<object>();
                        foreach (JsonElement item in element.EnumerateArray()) list.Add(Convert(item));
                        return list;
                    }
                case JsonValueKind.String:
                    return element.GetString();
                case JsonValueKind.Number:
                    {
                        long whole;
                        if (element.TryGetInt64(out whole)) return whole;
                        return element.GetDouble();
                    }
                case JsonValueKind.True:
                    return true;
                case JsonValueKind.False:
                    return false;
                default:
                    return null;
            }
        }

        /// <summary>
        /// The file opened for this process alone (FileShare.None: the OS drops it with the process),
        /// waiting up to timeoutMs while another holds it; null when it stayed held that long. A
        /// missing folder (a disposed tenant) throws at once.
        /// </summary>
        public static FileStream OpenExclusive(string path, FileMode mode, FileAccess access, int timeoutMs)
        {
            long deadline = Environment.TickCount64 + timeoutMs;
            while (true)
            {
                try
                {
                    return new FileStream(path, mode, access, FileShare.None);
                }
                catch (DirectoryNotFoundException)
                {
                    throw;
                }
                catch (FileNotFoundException)
                {
                    throw;
                }
                catch (IOException)
                {
                    if (Environment.TickCount64 > deadline) return null;
                    Thread.Sleep(1);
                }
            }
        }

        /// <summary>
        /// Appends one call to the call log (<tenant>/calls.jsonl, when it exists): { time, pid, cmdlet,
        /// parameters }, the bound parameters as the tests read them: a certificate by thumbprint only,
        /// never a secret's value, switches as booleans, anything else as PowerShell's [string] of it.
        /// The exclusive open is the log's own lock (sessions append at once); the tenant lock stays free.
        /// </summary>
        public static void AppendCall(string path, string cmdlet, IDictionary bound)
        {
            if (!File.Exists(path)) return;
            var buffer = new ArrayBufferWriter<byte>(1024);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteString("time", DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture));
                writer.WriteNumber("pid", Environment.ProcessId);
                writer.WriteString("cmdlet", cmdlet);
                writer.WritePropertyName("parameters");
                writer.WriteStartObject();
                foreach (DictionaryEntry entry in bound)
                {
                    writer.WritePropertyName(System.Convert.ToString(entry.Key, CultureInfo.InvariantCulture));
                    WriteLogValue(writer, entry.Value, 0);
                }
                writer.WriteEndObject();
                writer.WriteEndObject();
            }
            byte[] line = new byte[buffer.WrittenCount + 1];
            buffer.WrittenSpan.CopyTo(line);
            line[line.Length - 1] = (byte)'\n';
            FileStream stream = OpenExclusive(path, FileMode.Append, FileAccess.Write, 60000);
            if (stream == null) throw new IOException("The ExchangeOnlineManagement stub could not append to '" + path + "' within 60 s.");
            using (stream)
            {
                stream.Write(line, 0, line.Length);
            }
        }

        static HashSet<string> mailboxTypes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        static HashSet<string> mailUserTypes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        /// <summary>The module's recipient type lists ($script:MailboxTypes, $script:MailUserTypes), set once at import.</summary>
        public static void SetRecipientTypes(string[] mailboxes, string[] mailUsers)
        {
            mailboxTypes = new HashSet<string>(mailboxes, StringComparer.OrdinalIgnoreCase);
            mailUserTypes = new HashSet<string>(mailUsers, StringComparer.OrdinalIgnoreCase);
        }

        /// <summary>
        /// Whether an index item is seen by a lookup of this kind. mailbox: what Get-Mailbox sees; group:
        /// mail-enabled groups; principal: what can hold a permission; recipient: anything Get-Recipient sees.
        /// </summary>
        public static bool IsKind(Hashtable item, string kind)
        {
            bool group = item["group"] is bool flag && flag;
            string type = Text((item["entry"] as Hashtable)?["recipientTypeDetails"]);
            switch (kind?.ToLowerInvariant())
            {
                case "mailbox": return !group && mailboxTypes.Contains(type);
                case "group": return group;
                case "principal":
                    if (group) return string.Equals(type, "MailUniversalSecurityGroup", StringComparison.OrdinalIgnoreCase);
                    return mailboxTypes.Contains(type) || mailUserTypes.Contains(type);
                default: return true;
            }
        }

        /// <summary>
        /// The tenant's latency for a cmdlet (latencyMs: a number of milliseconds, or { cmdlet: ms, default: ms }),
        /// slept on this thread: Exchange Online's round trip, as it would be waited for.
        /// </summary>
        public static void WaitLatency(IDictionary state, string cmdlet)
        {
            object latency = state["latencyMs"];
            object chosen = latency;
            if (latency is IDictionary byCmdlet) chosen = byCmdlet[cmdlet] ?? byCmdlet["default"];
            if (chosen == null) return;
            int ms = System.Convert.ToInt32(chosen, CultureInfo.InvariantCulture);
            if (ms > 0) System.Threading.Thread.Sleep(ms);
        }

        static void WriteLogValue(Utf8JsonWriter writer, object value, int depth)
        {
            var wrapped = value as System.Management.Automation.PSObject;
            if (wrapped != null) value = wrapped.BaseObject;
            if (value == null) { writer.WriteNullValue(); return; }
            var certificate = value as System.Security.Cryptography.X509Certificates.X509Certificate2;
            if (certificate != null)
            {
                // Never the certificate itself: tests identify it by thumbprint.
                writer.WriteStartObject();
                writer.WriteBoolean("hasPrivateKey", certificate.HasPrivateKey);
                writer.WriteString("thumbprint", certificate.Thumbprint);
                writer.WriteEndObject();
                return;
            }
            if (value is System.Security.SecureString) { writer.WriteStringValue("[SecureString]"); return; }
            var credential = value as System.Management.Automation.PSCredential;
            if (credential != null) { writer.WriteStringValue("[PSCredential " + credential.UserName + "]"); return; }
            if (value is System.Management.Automation.SwitchParameter) { writer.WriteBooleanValue(((System.Management.Automation.SwitchParameter)value).IsPresent); return; }
            if (CanonicalJson.TryWriteScalar(writer, value)) return;
            if (depth < 16)
            {
                var dictionary = value as IDictionary;
                if (dictionary != null)
                {
                    // PowerShell's foreach does not enumerate a hashtable (e.g. -GrantSendOnBehalfTo @{Add=...}).
                    writer.WriteStartObject();
                    foreach (DictionaryEntry entry in dictionary)
                    {
                        writer.WritePropertyName(System.Convert.ToString(entry.Key, CultureInfo.InvariantCulture));
                        WriteLogValue(writer, entry.Value, depth + 1);
                    }
                    writer.WriteEndObject();
                    return;
                }
                if (CanonicalJson.TryWriteList(writer, value, item => WriteLogValue(writer, item, depth + 1))) return;
            }
            writer.WriteStringValue(System.Management.Automation.LanguagePrimitives.ConvertTo<string>(value));
        }

        /// <summary>The items of a list of tables whose key holds the value (ordinal, ignoring case, as PowerShell's -eq).</summary>
        public static List<object> Where(IEnumerable list, string key, string value)
        {
            var found = new List<object>();
            if (list == null) return found;
            foreach (object item in list)
            {
                var table = item as Hashtable;
                if (table != null && string.Equals(Text(table[key]), value, StringComparison.OrdinalIgnoreCase)) found.Add(item);
            }
            return found;
        }

        static readonly string[] NameKeys = { "primarySmtpAddress", "userPrincipalName", "alias", "name" };
        static readonly string[] AllKeys = { "guid", "exchangeGuid", "externalDirectoryObjectId", "dn", "primarySmtpAddress", "userPrincipalName", "alias", "name" };

        /// <summary>
        /// byGuid (Guid -> entry), byValue (any identity value -> index items), all (index items),
        /// membersOf (member Guid -> the groups holding it). An index item is a hashtable with entry,
        /// group (bool), values and names (the values '*' wildcards apply to), as Get-StubIndex made.
        /// </summary>
        public static Hashtable BuildIndex(Hashtable state)
        {
            var byGuid = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
            var byValue = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
            var all = new List<object>();
            var membersOf = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
            foreach (object group in ListOf(state, "groups"))
            {
                Hashtable table = group as Hashtable;
                if (table == null) continue;
                foreach (object member in ListOf(table, "members"))
                {
                    string key = Text(member);
                    object holders;
                    if (!membersOf.TryGetValue(key, out holders))
                    {
                        holders = new List<object>();
                        membersOf[key] = holders;
                    }
                    ((List<object>)holders).Add(table);
                }
            }
            foreach (string source in new[] { "mailboxes", "groups" })
            {
                foreach (object raw in ListOf(state, source))
                {
                    Hashtable entry = raw as Hashtable;
                    if (entry == null) continue;
                    var item = new Hashtable(StringComparer.OrdinalIgnoreCase);
                    List<string> values = IdentityValues(entry, AllKeys);
                    item["entry"] = entry;
                    item["group"] = source == "groups";
                    item["values"] = values;
                    item["names"] = IdentityValues(entry, NameKeys);
                    all.Add(item);
                    string guid = Text(entry["guid"]);
                    if (guid.Length > 0) byGuid[guid] = entry;
                    foreach (string value in values)
                    {
                        object list;
                        if (!byValue.TryGetValue(value, out list))
                        {
                            list = new List<object>();
                            byValue[value] = list;
                        }
                        var items = (List<object>)list;
                        if (!items.Contains(item)) items.Add(item);
                    }
                }
            }
            var index = new Hashtable(StringComparer.OrdinalIgnoreCase);
            index["byGuid"] = byGuid;
            index["byValue"] = byValue;
            index["all"] = all;
            index["membersOf"] = membersOf;
            return index;
        }

        internal static List<string> IdentityValues(Hashtable entry)
        {
            return IdentityValues(entry, AllKeys);
        }

        static List<string> IdentityValues(Hashtable entry, string[] keys)
        {
            var values = new List<string>();
            foreach (string key in keys)
            {
                string value = Text(entry[key]);
                if (value.Length > 0) values.Add(value);
            }
            values.AddRange(SmtpAddresses(entry));
            return values;
        }

        /// <summary>Every SMTP address (primary, then secondaries): the smtp entries of Get-StubProxyAddresses, unprefixed.</summary>
        static List<string> SmtpAddresses(Hashtable entry)
        {
            var addresses = new List<string>();
            string primary = Text(entry["primarySmtpAddress"]);
            if (primary.Length > 0) addresses.Add(primary);
            foreach (object raw in ListOf(entry, "emailAddresses"))
            {
                string text = Text(raw);
                if (text.Length == 0) continue;
                if (text.StartsWith("SMTP:", StringComparison.Ordinal))
                {
                    string address = text.Substring(5);
                    if (!string.Equals(address, primary, StringComparison.OrdinalIgnoreCase)) addresses.Add(address);
                    continue;
                }
                int colon = text.IndexOf(':');
                if (colon > 0 && IsProxyPrefix(text, colon))
                {
                    if (text.StartsWith("smtp:", StringComparison.OrdinalIgnoreCase)) addresses.Add(text.Substring(5));
                    continue;
                }
                addresses.Add(text);
            }
            return addresses;
        }

        static bool IsProxyPrefix(string text, int colon)
        {
            for (int i = 0; i < colon; i++)
            {
                char c = text[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
            }
            return true;
        }

        /// <summary>A list's items; a lone value (PowerShell's foreach over a scalar) is one item.</summary>
        internal static IEnumerable ListOf(Hashtable table, string key)
        {
            object value = table[key];
            if (value == null) return new object[0];
            if (value is string || !(value is IEnumerable)) return new[] { value };
            return (IEnumerable)value;
        }

        internal static string Text(object value)
        {
            if (value == null) return string.Empty;
            return System.Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty;
        }
    }
}

namespace ExoWorkflowSync.Stub
{
    /// <summary>
    /// One session's (process's) copy of the tenant, kept in step with the other sessions by a change
    /// journal rather than by re-reading the whole tenant after each of their writes.
    ///
    /// tenant.json is always the whole, current state (ExchangeStubTenant reads it; a test's own edit
    /// replaces it and writes tenant.edited), stamped with a version (stubVersion). Every write by a
    /// session happens under the tenant lock: it writes tenant.json, then appends one line to
    /// tenant.journal, { from, to, ops }, the changes between the two versions (an item of a top-level
    /// list replaced or appended, or a whole key put or deleted). Another session applies those lines to
    /// its copy in place, so the recipient index stays valid, and re-reads tenant.json only when it
    /// cannot follow the chain (a test's edit, a truncated journal). With eight sessions on a 500-group
    /// tenant the full re-read after every foreign write was most of the benchmark's CPU, a cost the
    /// real, central service does not have.
    /// </summary>
    public sealed class StubTenant
    {
        const string VersionKey = "stubVersion";
        // Where in the journal the state file's version ends: a reader catches up from there.
        const string OffsetKey = "stubJournalOffset";
        // A write appends its change to the journal; the whole state file is rewritten only once the
        // journal has grown by as much as the file (or this much), so a write costs about its change.
        const long MinCheckpointBytes = 64 * 1024;
        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false);
        readonly string statePath;
        readonly string journalPath;
        readonly string editPath;
        readonly int lagMs;
        string version;
        long journalOffset;
        string edit;
        long checkedAt;
        long checkpointOffset;
        long stateBytes;
        // Top-level key -> its canonical JSON, or for a list the canonical JSON of each item.
        Dictionary<string, object> snapshot;

        public Hashtable State;
        /// <summary>How often this process read the whole tenant.json (tests: the journal did the rest).</summary>
        public long FullReads;
        /// <summary>StubNative.BuildIndex of State, or null until a cmdlet asks for it.</summary>
        public Hashtable Index;

        public StubTenant(string folder, int lagMs)
        {
            statePath = Path.Combine(folder, "tenant.json");
            journalPath = Path.Combine(folder, "tenant.journal");
            editPath = Path.Combine(folder, "tenant.edited");
            this.lagMs = lagMs;
        }

        /// <summary>
        /// The tenant as of now, or (mayLag, reads only) as of less than lagMs ago: Exchange Online is only
        /// eventually consistent between sessions, and so is the stub. A test's edit is seen at once.
        /// </summary>
        public Hashtable Read(bool mayLag)
        {
            // A disposed tenant fails every call, even one this copy could answer from memory.
            if (!File.Exists(statePath)) throw MissingState();
            string editNow = ReadEdit();
            if (State != null && editNow == edit)
            {
                if (mayLag && Environment.TickCount64 - checkedAt < lagMs) return State;
                if (CatchUp(false))
                {
                    checkedAt = Environment.TickCount64;
                    return State;
                }
            }
            Load(editNow);
            return State;
        }

        /// <summary>
        /// Journals what changed in the state (the copy Read gave, changed in place), and now and then
        /// writes the whole state file: readers load the file and catch up through the journal.
        /// </summary>
        public void Save(Hashtable state)
        {
            bool same = ReferenceEquals(state, State) && snapshot != null;
            Dictionary<string, object> fresh = Snapshot(state);
            string next = Guid.NewGuid().ToString("N");

            var line = new StringBuilder();
            line.Append("{\"from\":").Append(JsonSerializer.Serialize(version ?? "")).Append(",\"to\":").Append(JsonSerializer.Serialize(next)).Append(",\"ops\":[");
            if (same) AppendDiff(line, snapshot, fresh);
            else AppendReplaceAll(line, snapshot, fresh);
            line.Append("]}\n");
            byte[] bytes = Utf8.GetBytes(line.ToString());
            using (var stream = new FileStream(journalPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
            {
                stream.Write(bytes, 0, bytes.Length);
                journalOffset = stream.Position;
            }

            // A replaced state (not the one Read gave), or a journal grown as long as the file since this
            // session last wrote or read it: write the file (atomically), with the journal offset its version ends at.
            if (!same || journalOffset - checkpointOffset >= Math.Max(MinCheckpointBytes, stateBytes))
            {
                var text = new StringBuilder();
                text.Append('{');
                foreach (KeyValuePair<string, object> pair in fresh)
                {
                    AppendKey(text, pair.Key);
                    AppendValue(text, pair.Value);
                    text.Append(',');
                }
                AppendKey(text, OffsetKey);
                text.Append(journalOffset.ToString(CultureInfo.InvariantCulture)).Append(',');
                AppendKey(text, VersionKey);
                text.Append(JsonSerializer.Serialize(next));
                text.Append('}');
                string temporary = statePath + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N") + ".tmp";
                File.WriteAllText(temporary, text.ToString(), Utf8);
                File.Move(temporary, statePath, true);
                stateBytes = text.Length;
                checkpointOffset = journalOffset;
            }

            if (!ReferenceEquals(state, State)) Index = null;
            State = state;
            snapshot = fresh;
            version = next;
            checkedAt = Environment.TickCount64;
        }

        FileNotFoundException MissingState()
        {
            return new FileNotFoundException("The ExchangeOnlineManagement stub state file '" + statePath + "' does not exist.");
        }

        string ReadEdit()
        {
            try
            {
                return File.ReadAllText(editPath);
            }
            catch (IOException)
            {
                return string.Empty;
            }
        }

        void Load(string editNow)
        {
            FullReads++;
            long before = JournalLength();
            if (!File.Exists(statePath)) throw MissingState();
            Hashtable state;
            byte[] file = File.ReadAllBytes(statePath);
            using (JsonDocument document = JsonDocument.Parse(file))
            {
                state = (Hashtable)StubNative.Convert(document.RootElement);
            }
            version = state[VersionKey] as string ?? string.Empty;
            state.Remove(VersionKey);
            // The file's version ends there in the journal (a session wrote it); a file the test's side
            // wrote names the journal's length then. Without one, the journal as it was before the read.
            object offset = state[OffsetKey];
            state.Remove(OffsetKey);
            State = state;
            Index = null;
            snapshot = Snapshot(state);
            edit = editNow;
            journalOffset = offset is long at ? at : Math.Max(before, 0);
            checkpointOffset = journalOffset;
            stateBytes = file.Length;
            // Lines appended while the file was read: the ones up to this version are already in it.
            if (!CatchUp(true)) journalOffset = Math.Max(JournalLength(), 0);
            checkedAt = Environment.TickCount64;
        }

        long JournalLength()
        {
            try
            {
                return new FileInfo(journalPath).Length;
            }
            catch (IOException)
            {
                return -1;
            }
        }

        /// <summary>Applies the journal's new lines; false when they do not follow from this copy's version.</summary>
        bool CatchUp(bool afterLoad)
        {
            byte[] tail;
            try
            {
                using (var stream = new FileStream(journalPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
                {
                    long length = stream.Length;
                    if (length < journalOffset) return false;
                    if (length == journalOffset) return true;
                    stream.Seek(journalOffset, SeekOrigin.Begin);
                    tail = new byte[length - journalOffset];
                    int read = 0;
                    while (read < tail.Length)
                    {
                        int got = stream.Read(tail, read, tail.Length - read);
                        if (got <= 0) break;
                        read += got;
                    }
                    if (read < tail.Length) Array.Resize(ref tail, read);
                }
            }
            catch (FileNotFoundException)
            {
                return journalOffset == 0;
            }
            long origin = journalOffset;
            int start = 0;
            bool synced = !afterLoad;
            while (true)
            {
                int end = Array.IndexOf(tail, (byte)'\n', start);
                // A line still being written is read next time.
                if (end < 0) break;
                using (JsonDocument document = JsonDocument.Parse(new ReadOnlyMemory<byte>(tail, start, end - start)))
                {
                    JsonElement root = document.RootElement;
                    string from = root.GetProperty("from").GetString();
                    string to = root.GetProperty("to").GetString();
                    if (from == version)
                    {
                        Apply(root.GetProperty("ops"));
                        version = to;
                        synced = true;
                    }
                    else if (to == version)
                    {
                        synced = true;
                    }
                    else if (synced)
                    {
                        // Not a change of this copy (a fork it cannot follow): the caller reads the file again.
                        return false;
                    }
                }
                start = end + 1;
                journalOffset = origin + start;
            }
            return true;
        }

        // -----------------------------------------------------------------------------------------------
        // Changes: what a write journals and what the other sessions apply

        static bool IsList(object value)
        {
            return value is IEnumerable && !(value is string) && !(value is IDictionary);
        }

        static bool Indexed(string key)
        {
            return key == "mailboxes" || key == "groups";
        }

        sealed class CachedItem
        {
            public long Signature;
            public string Json;
        }

        // An item's JSON from the last snapshot, kept while its signature (the versions of the tables and
        // lists it is made of) is unchanged: a write re-serializes only what a cmdlet touched, not the
        // whole tenant (most of a write's cost on a 500-group tenant).
        Dictionary<object, CachedItem> itemCache = new Dictionary<object, CachedItem>(ReferenceEqualityComparer.Instance);

        static readonly FieldInfo TableVersion = typeof(Hashtable).GetField("_version", BindingFlags.NonPublic | BindingFlags.Instance);
        static readonly FieldInfo ListVersion = typeof(List<object>).GetField("_version", BindingFlags.NonPublic | BindingFlags.Instance);
        // Compiled readers of those fields: FieldInfo.GetValue (reflection, a boxed int) on every table and
        // list of the tenant at every write was most of a Signature walk.
        static readonly Func<Hashtable, int> TableVersionOf = VersionReader<Hashtable>(TableVersion);
        static readonly Func<List<object>, int> ListVersionOf = VersionReader<List<object>>(ListVersion);
        static long uncachable;

        static Func<T, int> VersionReader<T>(FieldInfo field)
        {
            if (field == null || field.FieldType != typeof(int)) return null;
            var target = System.Linq.Expressions.Expression.Parameter(typeof(T), "target");
            return System.Linq.Expressions.Expression.Lambda<Func<T, int>>(System.Linq.Expressions.Expression.Field(target, field), target).Compile();
        }

        static long Mix(long hash, long value)
        {
            unchecked
            {
                hash ^= value + (long)0x9E3779B97F4A7C15 + (hash << 6) + (hash >> 2);
                return hash * (long)0xBF58476D1CE4E5B9;
            }
        }

        /// <summary>
        /// Changes whenever the value or anything in it changes: Hashtable and List keep a version that
        /// every change bumps; an array's items are hashed. Any other container is never taken as unchanged.
        /// </summary>
        static long Signature(object value, int depth)
        {
            if (depth > 64 || TableVersionOf == null || ListVersionOf == null) return Interlocked.Increment(ref uncachable);
            var table = value as Hashtable;
            if (table != null && table.GetType() == typeof(Hashtable))
            {
                long hash = Mix(RuntimeHelpers.GetHashCode(table), TableVersionOf(table));
                hash = Mix(hash, table.Count);
                foreach (DictionaryEntry entry in table)
                {
                    if (IsContainer(entry.Value)) hash = Mix(hash, Signature(entry.Value, depth + 1));
                }
                return hash;
            }
            var list = value as List<object>;
            if (list != null)
            {
                long hash = Mix(RuntimeHelpers.GetHashCode(list), ListVersionOf(list));
                hash = Mix(hash, list.Count);
                foreach (object item in list)
                {
                    if (IsContainer(item)) hash = Mix(hash, Signature(item, depth + 1));
                }
                return hash;
            }
            var array = value as Array;
            if (array != null)
            {
                long hash = Mix(RuntimeHelpers.GetHashCode(array), array.Length);
                foreach (object item in array)
                {
                    if (IsContainer(item)) hash = Mix(hash, Signature(item, depth + 1));
                    else hash = Mix(hash, item == null ? 0 : item.GetHashCode());
                }
                return hash;
            }
            if (IsContainer(value)) return Interlocked.Increment(ref uncachable);
            return Mix(0, value == null ? 0 : value.GetHashCode());
        }

        static bool IsContainer(object value)
        {
            // The common cases by exact type first: an interface test on every leaf was a cost of its own.
            if (value == null || value is string || value is bool || value is long || value is double) return false;
            if (value is Hashtable || value is List<object>) return true;
            return value is IEnumerable;
        }

        string CachedJson(object item, Dictionary<object, CachedItem> into)
        {
            if (item == null || !IsContainer(item)) return CanonicalJson.Write(item);
            long signature = Signature(item, 0);
            CachedItem cached;
            if (!itemCache.TryGetValue(item, out cached) || cached.Signature != signature)
            {
                cached = new CachedItem { Signature = signature, Json = CanonicalJson.Write(item) };
            }
            into[item] = cached;
            return cached.Json;
        }

        void Remember(object item, string json)
        {
            if (item != null && IsContainer(item)) itemCache[item] = new CachedItem { Signature = Signature(item, 0), Json = json };
        }

        /// <summary>Each top-level key's canonical JSON; a list's, item by item.</summary>
        Dictionary<string, object> Snapshot(Hashtable state)
        {
            var cache = new Dictionary<object, CachedItem>(ReferenceEqualityComparer.Instance);
            try
            {
                return Snapshot(state, cache);
            }
            finally
            {
                itemCache = cache;
            }
        }

        Dictionary<string, object> Snapshot(Hashtable state, Dictionary<object, CachedItem> cache)
        {
            var keys = new List<string>();
            foreach (object key in state.Keys) keys.Add((string)key);
            keys.Sort(StringComparer.Ordinal);
            var snapshot = new Dictionary<string, object>(StringComparer.Ordinal);
            foreach (string key in keys)
            {
                if (key == VersionKey || key == OffsetKey) continue;
                object value = state[key];
                if (IsList(value))
                {
                    var items = new List<string>();
                    foreach (object item in (IEnumerable)value) items.Add(CachedJson(item, cache));
                    snapshot[key] = items;
                }
                else
                {
                    snapshot[key] = CachedJson(value, cache);
                }
            }
            return snapshot;
        }

        static void AppendKey(StringBuilder text, string key)
        {
            text.Append(JsonSerializer.Serialize(key)).Append(':');
        }

        static void AppendValue(StringBuilder text, object value)
        {
            var items = value as List<string>;
            if (items == null)
            {
                text.Append((string)value);
                return;
            }
            text.Append('[');
            for (int i = 0; i < items.Count; i++)
            {
                if (i > 0) text.Append(',');
                text.Append(items[i]);
            }
            text.Append(']');
        }

        static void AppendOp(StringBuilder line, ref bool first, string op, string key, int index, object value)
        {
            if (!first) line.Append(',');
            first = false;
            line.Append("{\"o\":\"").Append(op).Append("\",\"k\":").Append(JsonSerializer.Serialize(key));
            if (index >= 0) line.Append(",\"i\":").Append(index.ToString(CultureInfo.InvariantCulture));
            if (value != null)
            {
                line.Append(",\"v\":");
                AppendValue(line, value);
            }
            line.Append('}');
        }

        static void AppendDiff(StringBuilder line, Dictionary<string, object> before, Dictionary<string, object> after)
        {
            bool first = true;
            foreach (KeyValuePair<string, object> pair in before)
            {
                if (!after.ContainsKey(pair.Key)) AppendOp(line, ref first, "del", pair.Key, -1, null);
            }
            foreach (KeyValuePair<string, object> pair in after)
            {
                object old;
                before.TryGetValue(pair.Key, out old);
                var items = pair.Value as List<string>;
                var oldItems = old as List<string>;
                if (items != null && oldItems != null && items.Count >= oldItems.Count)
                {
                    // An item changed in place, or items added at the end: the common changes.
                    int changed = 0;
                    for (int i = 0; i < oldItems.Count; i++)
                    {
                        if (!string.Equals(items[i], oldItems[i], StringComparison.Ordinal)) changed++;
                    }
                    if (changed <= Math.Max(8, oldItems.Count / 4))
                    {
                        for (int i = 0; i < oldItems.Count; i++)
                        {
                            if (!string.Equals(items[i], oldItems[i], StringComparison.Ordinal)) AppendOp(line, ref first, "set", pair.Key, i, items[i]);
                        }
                        for (int i = oldItems.Count; i < items.Count; i++) AppendOp(line, ref first, "add", pair.Key, -1, items[i]);
                        continue;
                    }
                }
                if (items == null && old is string && string.Equals((string)old, (string)pair.Value, StringComparison.Ordinal)) continue;
                AppendOp(line, ref first, "put", pair.Key, -1, pair.Value);
            }
        }

        static void AppendReplaceAll(StringBuilder line, Dictionary<string, object> before, Dictionary<string, object> after)
        {
            bool first = true;
            if (before != null)
            {
                foreach (KeyValuePair<string, object> pair in before)
                {
                    if (!after.ContainsKey(pair.Key)) AppendOp(line, ref first, "del", pair.Key, -1, null);
                }
            }
            foreach (KeyValuePair<string, object> pair in after) AppendOp(line, ref first, "put", pair.Key, -1, pair.Value);
        }

        void Apply(JsonElement ops)
        {
            bool rebuild = false;
            foreach (JsonElement op in ops.EnumerateArray())
            {
                string kind = op.GetProperty("o").GetString();
                string key = op.GetProperty("k").GetString();
                JsonElement value = default(JsonElement);
                bool hasValue = op.TryGetProperty("v", out value);
                switch (kind)
                {
                    case "del":
                        State.Remove(key);
                        snapshot.Remove(key);
                        if (Indexed(key)) rebuild = true;
                        break;
                    case "put":
                        {
                            object converted = StubNative.Convert(value);
                            State[key] = converted;
                            if (IsList(converted))
                            {
                                var items = new List<string>();
                                int at = 0;
                                var convertedItems = (List<object>)converted;
                                foreach (JsonElement item in value.EnumerateArray())
                                {
                                    string raw = item.GetRawText();
                                    items.Add(raw);
                                    Remember(convertedItems[at++], raw);
                                }
                                snapshot[key] = items;
                            }
                            else
                            {
                                snapshot[key] = value.GetRawText();
                                Remember(converted, snapshot[key] as string);
                            }
                            if (Indexed(key)) rebuild = true;
                            break;
                        }
                    case "add":
                        {
                            object added = StubNative.Convert(value);
                            string raw = value.GetRawText();
                            MutableList(key).Add(added);
                            SnapshotItems(key).Add(raw);
                            Remember(added, raw);
                            if (Indexed(key)) rebuild = true;
                            break;
                        }
                    case "set":
                        {
                            int index = op.GetProperty("i").GetInt32();
                            List<object> list = MutableList(key);
                            object converted = StubNative.Convert(value);
                            var existing = list[index] as Hashtable;
                            var replacement = converted as Hashtable;
                            if (existing != null && replacement != null)
                            {
                                // In place, so the index (which holds these very tables) stays valid.
                                if (Indexed(key) && !SameIdentity(existing, replacement)) rebuild = true;
                                if (key == "groups" && !rebuild && Index != null) MoveMemberships(existing, replacement);
                                existing.Clear();
                                foreach (DictionaryEntry entry in replacement) existing[entry.Key] = entry.Value;
                            }
                            else
                            {
                                list[index] = converted;
                                if (Indexed(key)) rebuild = true;
                            }
                            string text = value.GetRawText();
                            SnapshotItems(key)[index] = text;
                            Remember(list[index], text);
                            break;
                        }
                    default:
                        throw new InvalidDataException("unknown journal operation '" + kind + "'");
                }
            }
            if (rebuild) Index = null;
        }

        List<object> MutableList(string key)
        {
            object value = State[key];
            var list = value as List<object>;
            if (list != null) return list;
            list = new List<object>();
            if (value != null)
            {
                foreach (object item in StubNative.ListOf(State, key)) list.Add(item);
            }
            State[key] = list;
            return list;
        }

        List<string> SnapshotItems(string key)
        {
            object value;
            snapshot.TryGetValue(key, out value);
            var items = value as List<string>;
            if (items == null)
            {
                items = new List<string>();
                snapshot[key] = items;
            }
            return items;
        }

        static bool SameIdentity(Hashtable before, Hashtable after)
        {
            List<string> a = StubNative.IdentityValues(before);
            List<string> b = StubNative.IdentityValues(after);
            if (a.Count != b.Count) return false;
            for (int i = 0; i < a.Count; i++)
            {
                if (!string.Equals(a[i], b[i], StringComparison.OrdinalIgnoreCase)) return false;
            }
            return true;
        }

        /// <summary>Keeps the index's membersOf (member Guid -> groups holding it) right for a group's new members.</summary>
        void MoveMemberships(Hashtable group, Hashtable replacement)
        {
            var membersOf = (Dictionary<string, object>)Index["membersOf"];
            var before = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (object member in StubNative.ListOf(group, "members")) before.Add(StubNative.Text(member));
            var after = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (object member in StubNative.ListOf(replacement, "members")) after.Add(StubNative.Text(member));
            foreach (string gone in before)
            {
                if (after.Contains(gone)) continue;
                object holders;
                if (membersOf.TryGetValue(gone, out holders)) ((List<object>)holders).Remove(group);
            }
            foreach (string added in after)
            {
                if (before.Contains(added)) continue;
                object holders;
                if (!membersOf.TryGetValue(added, out holders))
                {
                    holders = new List<object>();
                    membersOf[added] = holders;
                }
                ((List<object>)holders).Add(group);
            }
        }
    }

    /// <summary>
    /// JSON of the stub's state values with object keys in ordinal order, so that an unchanged item
    /// always writes the same text (the journal's diff compares item texts).
    /// </summary>
    public static class CanonicalJson
    {
        [ThreadStatic] static ArrayBufferWriter<byte> sharedBuffer;
        [ThreadStatic] static Utf8JsonWriter sharedWriter;

        public static string Write(object value)
        {
            // One buffer and writer for the thread, reset for each value: a snapshot writes a thousand items.
            if (sharedWriter == null)
            {
                sharedBuffer = new ArrayBufferWriter<byte>(64 * 1024);
                sharedWriter = new Utf8JsonWriter(sharedBuffer);
            }
            sharedBuffer.ResetWrittenCount();
            sharedWriter.Reset(sharedBuffer);
            WriteValue(sharedWriter, value, 0);
            sharedWriter.Flush();
            return Encoding.UTF8.GetString(sharedBuffer.WrittenSpan);
        }

        static void WriteValue(Utf8JsonWriter writer, object value, int depth)
        {
            if (depth > 64) throw new InvalidDataException("the stub's state is nested too deeply");
            var wrapped = value as System.Management.Automation.PSObject;
            if (wrapped != null) value = wrapped.BaseObject;
            if (value == null) { writer.WriteNullValue(); return; }
            if (TryWriteScalar(writer, value)) return;
            if (value is decimal) { writer.WriteNumberValue((decimal)value); return; }
            if (value is float) { writer.WriteNumberValue((float)value); return; }
            if (value is short || value is byte || value is sbyte || value is ushort || value is uint) { writer.WriteNumberValue(System.Convert.ToInt64(value, CultureInfo.InvariantCulture)); return; }
            if (value is ulong) { writer.WriteNumberValue((ulong)value); return; }
            if (value is DateTime) { writer.WriteStringValue((DateTime)value); return; }
            if (value is DateTimeOffset) { writer.WriteStringValue((DateTimeOffset)value); return; }
            if (value is Guid) { writer.WriteStringValue((Guid)value); return; }
            if (value is Enum) { writer.WriteNumberValue(System.Convert.ToInt64(value, CultureInfo.InvariantCulture)); return; }
            var dictionary = value as IDictionary;
            if (dictionary != null)
            {
                int count = dictionary.Count;
                var names = new string[count];
                var values = new object[count];
                int at = 0;
                foreach (DictionaryEntry entry in dictionary)
                {
                    names[at] = entry.Key as string ?? System.Convert.ToString(entry.Key, CultureInfo.InvariantCulture);
                    values[at] = entry.Value;
                    at++;
                }
                Array.Sort(names, values, StringComparer.Ordinal);
                writer.WriteStartObject();
                for (int i = 0; i < count; i++)
                {
                    writer.WritePropertyName(names[i]);
                    WriteValue(writer, values[i], depth + 1);
                }
                writer.WriteEndObject();
                return;
            }
            if (TryWriteList(writer, value, item => WriteValue(writer, item, depth + 1))) return;
            writer.WriteStringValue(System.Convert.ToString(value, CultureInfo.InvariantCulture));
        }

        /// <summary>Strings, booleans and the usual numbers, as themselves (both the state and the call log).</summary>
        internal static bool TryWriteScalar(Utf8JsonWriter writer, object value)
        {
            if (value is string) { writer.WriteStringValue((string)value); return true; }
            if (value is bool) { writer.WriteBooleanValue((bool)value); return true; }
            if (value is int) { writer.WriteNumberValue((int)value); return true; }
            if (value is long) { writer.WriteNumberValue((long)value); return true; }
            if (value is double) { writer.WriteNumberValue((double)value); return true; }
            return false;
        }

        /// <summary>Any other sequence (not a string, which TryWriteScalar took) as a JSON array of its items.</summary>
        internal static bool TryWriteList(Utf8JsonWriter writer, object value, Action<object> writeItem)
        {
            var list = value as IEnumerable;
            if (list == null) return false;
            writer.WriteStartArray();
            foreach (object item in list) writeItem(item);
            writer.WriteEndArray();
            return true;
        }
    }
}
