// The stub's two hot paths in C#, compiled once per machine (see Import-StubNative in the .psm1):
// reading the tenant's JSON into the hashtables the cmdlets change in place, the recipient index, and
// waiting for the tenant's and the call log's locks (a retry loop in PowerShell, one caught exception
// per try, burnt a core when eight sessions queued for a lock).
// With several sessions sharing a tenant every change by one makes the others re-read it; in
// PowerShell that cost hundreds of milliseconds a call on a 500-group tenant, so the benchmark measured
// the stub rather than the caller. The shapes are exactly those the PowerShell code built before:
// Hashtable (ordinal keys), List<object>, long or double, string, bool, null.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text.Json;
using System.Threading;

namespace ExoWorkflowSync.Stub
{
    public static class StubNative
    {
        public static object ParseState(string text)
        {
            using (JsonDocument document = JsonDocument.Parse(text))
            {
                return Convert(document.RootElement);
            }
        }

        static object Convert(JsonElement element)
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
        static IEnumerable ListOf(Hashtable table, string key)
        {
            object value = table[key];
            if (value == null) return new object[0];
            if (value is string || !(value is IEnumerable)) return new[] { value };
            return (IEnumerable)value;
        }

        static string Text(object value)
        {
            if (value == null) return string.Empty;
            return System.Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty;
        }
    }
}
