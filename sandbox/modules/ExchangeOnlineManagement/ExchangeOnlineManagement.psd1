@{
    RootModule        = 'ExchangeOnlineManagement.psm1'
    ModuleVersion     = '3.10.1'
    # Not the GUID of Microsoft's module: nothing should mistake this for it.
    GUID              = '92013def-86db-4765-8cd3-b184efc660d2'
    Author            = 'exo-workflow-sync'
    CompanyName       = 'exo-workflow-sync'
    Copyright         = 'exo-workflow-sync contributors'
    Description       = 'STUB of the Exchange Online PowerShell V3 module (ExchangeOnlineManagement) for exo-workflow-sync tests. Not Microsoft''s module: it never touches the network. Its tenant is the folder it was copied into: state in ../../tenant.json, every call logged to ../../calls.jsonl.'
    PowerShellVersion = '7.2'
    FunctionsToExport = @(
        'Connect-ExchangeOnline',
        'Disconnect-ExchangeOnline',
        'Get-ConnectionInformation',
        'Get-Mailbox',
        'Set-Mailbox',
        'Get-Recipient',
        'Get-MailboxPermission',
        'Add-MailboxPermission',
        'Get-RecipientPermission',
        'Add-RecipientPermission',
        'Get-DistributionGroupMember',
        'Remove-DistributionGroupMember',
        'Get-MailboxStatistics',
        'Get-MailboxAutoReplyConfiguration',
        'Set-MailboxAutoReplyConfiguration',
        'Get-CASMailbox',
        'Set-CASMailbox',
        'Get-MobileDevice',
        'Remove-MobileDevice',
        'Get-InboxRule',
        'Disable-InboxRule',
        'Remove-CalendarEvents',
        'Remove-MailboxPermission',
        'Remove-RecipientPermission',
        'Add-DistributionGroupMember',
        'Enable-InboxRule'
    )
    CmdletsToExport   = @()
    VariablesToExport = @()
    AliasesToExport   = @()
    PrivateData       = @{
        PSData = @{
            Tags = @('stub', 'test')
        }
    }
}
